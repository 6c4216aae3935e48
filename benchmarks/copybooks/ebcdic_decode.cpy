       01  PRODUCT-MASTER-REC.
           05  PRODUCT-ID              PIC X(4).
           05  PRODUCT-NAME            PIC X(30).
           05  TEMP-MIN                PIC S9(3)V99 COMP-3.
           05  TEMP-MAX                PIC S9(3)V99 COMP-3.
           05  SHELF-LIFE-DAYS         PIC 9(4).
           05  PALLETS-PER-FEU         PIC S9(4) COMP.
           05  HUMIDITY-PCT            PIC 9(3)V9.
           05  STATUS-CODE             PIC X.
               88  ACTIVE              VALUE 'A'.
           05  HS-CODES OCCURS 2 TIMES PIC 9(6).
           05  FILLER                  PIC X(12).
