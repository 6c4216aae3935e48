      *================================================================*
      * PRODMAST  PRODUCT MASTER EXTRACT, RECFM=FB, LRECL=64, CP037    *
      * ONE RECORD PER REFRIGERATED PRODUCT; KEY PRODUCT-ID.           *
      * TEMPERATURES IN DEGREES CELSIUS, PRICE IN USD PER PALLET.      *
      *================================================================*
       01  PRODUCT-MASTER-REC.
           05  PRODUCT-ID              PIC X(4).
           05  PRODUCT-NAME            PIC X(30).
           05  REEFER-SETTINGS.
               10  TEMP-MIN            PIC S9(3)V99 COMP-3.
               10  TEMP-MAX            PIC S9(3)V99 COMP-3.
           05  REEFER-SETTINGS-RAW REDEFINES REEFER-SETTINGS
                                       PIC X(6).
           05  UNIT-PRICE              PIC S9(7)V99 COMP-3.
           05  STATUS-CODE             PIC X.
               88  PRODUCT-ACTIVE      VALUE 'A'.
               88  PRODUCT-RETIRED     VALUE 'R'.
           05  RECORD-VERSION          PIC 9(2).
           05  FILLER                  PIC X(16).
