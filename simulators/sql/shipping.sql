-- The shipping line's system of record, schema SHIPPING, as Db2 for z/OS DDL.
-- `offload sor init` parses this file (simulators/ddl.py), creates each table in the simulated
-- Db2 and registers it for capture. Products, ports and vessels are reference data that arrive
-- as files (simulators/reference_data.py holds their keys): the tables refer to them by key.

CREATE TABLE SHIPPING.CUSTOMERS (
    CUSTOMER_ID      INTEGER      NOT NULL,
    NAME             VARCHAR(60)  NOT NULL,
    COUNTRY          CHAR(2)      NOT NULL,
    SEGMENT          CHAR(10)     NOT NULL WITH DEFAULT 'STANDARD',
    CREDIT_LIMIT     DECIMAL(15,2) NOT NULL,
    ORDER_CUTOFF     TIME,
    CREATED_AT       TIMESTAMP    NOT NULL,
    PRIMARY KEY (CUSTOMER_ID)
) IN DBSHIP.TSCUST;

CREATE TABLE SHIPPING.ORDERS (
    ORDER_ID         BIGINT       NOT NULL,
    CUSTOMER_ID      INTEGER      NOT NULL,
    PRODUCT_ID       CHAR(4)      NOT NULL,   -- reference data: products
    QUANTITY         SMALLINT     NOT NULL,   -- pallets
    AMOUNT           DECIMAL(13,2) NOT NULL,
    CURRENCY         CHAR(3)      NOT NULL WITH DEFAULT 'USD',
    ORIGIN_PORT      CHAR(5)      NOT NULL,   -- UN/LOCODE, reference data: ports
    DESTINATION_PORT CHAR(5)      NOT NULL,
    REQUESTED_DATE   DATE         NOT NULL,
    STATUS           CHAR(10)     NOT NULL,   -- CREATED ASSIGNED LOADED IN_TRANSIT ARRIVED DELIVERED
    CREATED_AT       TIMESTAMP    NOT NULL,
    UPDATED_AT       TIMESTAMP    NOT NULL,
    PRIMARY KEY (ORDER_ID)
) IN DBSHIP.TSORDER;

CREATE TABLE SHIPPING.VOYAGES (
    VOYAGE_ID        CHAR(8)      NOT NULL,
    VESSEL_ID        CHAR(10)     NOT NULL,   -- reference data: vessels (IMO number)
    ORIGIN_PORT      CHAR(5)      NOT NULL,
    DESTINATION_PORT CHAR(5)      NOT NULL,
    PLANNED_DEPARTURE TIMESTAMP   NOT NULL,
    PLANNED_ARRIVAL  TIMESTAMP    NOT NULL,
    DEPARTED_AT      TIMESTAMP,
    ARRIVED_AT       TIMESTAMP,
    STATUS           CHAR(8)      NOT NULL,   -- PLANNED AT_SEA ARRIVED
    PRIMARY KEY (VOYAGE_ID)
) IN DBSHIP.TSVOYAGE;

CREATE TABLE SHIPPING.CONTAINERS (
    CONTAINER_ID     CHAR(11)     NOT NULL,   -- ISO 6346 owner code, serial, check digit
    ISO_TYPE         CHAR(4)      NOT NULL WITH DEFAULT '45R1',
    MAX_PAYLOAD_KG   INTEGER      NOT NULL,
    STATUS           CHAR(10)     NOT NULL,   -- AVAILABLE ASSIGNED LOADED
    LAST_PORT        CHAR(5),
    PRIMARY KEY (CONTAINER_ID)
) IN DBSHIP.TSCONT;

CREATE TABLE SHIPPING.ORDER_ASSIGNMENTS (
    ORDER_ID         BIGINT       NOT NULL,
    CONTAINER_ID     CHAR(11)     NOT NULL,
    VOYAGE_ID        CHAR(8)      NOT NULL,
    ASSIGNED_AT      TIMESTAMP    NOT NULL,
    LOADED_AT        TIMESTAMP,
    DISCHARGED_AT    TIMESTAMP,
    PRIMARY KEY (ORDER_ID, CONTAINER_ID, VOYAGE_ID)
) IN DBSHIP.TSASSIGN;

CREATE TABLE SHIPPING.REEFER_TELEMETRY (
    CONTAINER_ID     CHAR(11)     NOT NULL,
    READING_TS       TIMESTAMP    NOT NULL,
    TEMPERATURE      DECIMAL(5,2) NOT NULL,   -- degrees Celsius
    HUMIDITY         DECIMAL(5,2),            -- percent relative humidity
    POWER_STATE      CHAR(3)      NOT NULL,   -- ON OFF
    LATITUDE         DOUBLE,
    LONGITUDE        DOUBLE,
    PRIMARY KEY (CONTAINER_ID, READING_TS)
) IN DBSHIP.TSTELEM;
