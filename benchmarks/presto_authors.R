# PRESTO fitted by the authors' R code (Faletto & Bien 2023, ICML), for bench_presto.py --r.
#
# Usage: Rscript presto_authors.R AUTHORS_DIR DATA_DIR
#   AUTHORS_DIR  a checkout of the authors' repository (gregfaletto/presto on GitHub), which
#                holds presto_func.R and the modified ordinalNet ("ordinalNet modified/").
#   DATA_DIR     written by bench_presto.py: X.csv (n x p, header), y.csv (column y, classes
#                1..K), folds.csv (column fold, 1..F: the same folds bayesuq uses).
# Writes DATA_DIR/r_rare.csv (the in-sample P(y = K | x)) and DATA_DIR/r_result.csv
# (seconds, lambda_star, lambda_max).
#
# What runs is the authors' presto(): getLambdaFusedPolr() (ordinalNetTuneMod with 20
# lambdas down to 0.01 lambda_max, 5-fold CV on the Brier score, the largest lambda with the
# minimum mean) and then getParamEstsMod() (a refit at lambda_star), and predictPrestoProbs().
# Two departures, both to compare like with like: the folds are passed in (their default
# draws them with R's sample()), and printing is off (their presto() also refers to an
# undefined variable `printInter`, so it cannot be called as published).
# The timed part starts before sourcing their code, so it includes everything R does.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript presto_authors.R AUTHORS_DIR DATA_DIR")
authors_dir <- normalizePath(args[1])
data_dir <- normalizePath(args[2])

X <- as.matrix(read.csv(file.path(data_dir, "X.csv")))
y_int <- read.csv(file.path(data_dir, "y.csv"))$y
fold_id <- read.csv(file.path(data_dir, "folds.csv"))$fold
K <- max(y_int)
y <- factor(y_int, levels = 1:K, ordered = TRUE)
folds <- lapply(sort(unique(fold_id)), function(f) which(fold_id == f))

start <- proc.time()[["elapsed"]]
old_wd <- setwd(authors_dir)
source("presto_func.R")  # sources the modified ordinalNet; setwd()s back to authors_dir
setwd(old_wd)

tune <- ordinalNetTuneMod(X, y, family = "cumulative", link = "logit",
    printProgress = FALSE, nLambda = 20, lambdaMinRatio = 0.01, alpha = 1,
    warn = FALSE, folds = folds)
briers <- rowMeans(tune$brier)
lambda_star <- max(tune$fit$lambdaVals[briers == min(briers)])
res <- getParamEstsMod(X = X, y = y, lambdaVals = lambda_star, K = K,
    printIter = FALSE, alpha_param = 1)
probs <- predictPrestoProbs(res, X)
seconds <- proc.time()[["elapsed"]] - start

write.csv(data.frame(rare = probs[, K]), file.path(data_dir, "r_rare.csv"), row.names = FALSE)
write.csv(data.frame(seconds = seconds, lambda_star = lambda_star,
    lambda_max = max(tune$fit$lambdaVals)), file.path(data_dir, "r_result.csv"),
    row.names = FALSE)
cat(sprintf("R presto: %.2f s, lambda* = %.6g\n", seconds, lambda_star))
