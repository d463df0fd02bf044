from responsa.cli import main

raise SystemExit(main())
