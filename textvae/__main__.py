from textvae.cli import main

raise SystemExit(main())
