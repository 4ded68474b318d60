from bayesuq.cli import main

raise SystemExit(main())
