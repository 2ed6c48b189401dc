from cockpit.demo.ops import main

raise SystemExit(main())
