from mediakit.cli import main

raise SystemExit(main())
