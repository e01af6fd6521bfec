from cexflow.cli import main

raise SystemExit(main())
