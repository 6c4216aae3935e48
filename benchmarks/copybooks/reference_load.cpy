       01  PRODUCT-MASTER-REC.
           05  PRODUCT-ID              PIC X(8).
           05  PRODUCT-NAME            PIC X(30).
           05  TEMP-MIN                PIC S9(3)V99 COMP-3.
           05  TEMP-MAX                PIC S9(3)V99 COMP-3.
           05  UNIT-PRICE              PIC S9(7)V99 COMP-3.
           05  SHELF-LIFE-DAYS         PIC 9(4).
           05  STATUS-CODE             PIC X.
           05  FILLER                  PIC X(10).
