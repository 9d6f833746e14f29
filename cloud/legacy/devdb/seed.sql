-- The legacy shop's database, as the old shopping app laid it out (dev and
-- tests only). Build a file with ./make-devdb.sh [out.db]. Passwords of the
-- dev accounts are in README.md beside this file; the hashes are crypt(3):
-- "$2b$" bcrypt (the app's default) and "$6$" sha512-crypt (accounts migrated
-- from its first version). Dates are UTC text, amounts in kopecks.
BEGIN;
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    email TEXT,
    phone TEXT,
    passwd TEXT NOT NULL,
    full_name TEXT,
    is_active INTEGER NOT NULL DEFAULT 1,
    created TEXT NOT NULL
);
CREATE UNIQUE INDEX customers_email ON customers (lower(email));
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    order_no TEXT NOT NULL,
    status TEXT NOT NULL,
    total_kop INTEGER NOT NULL,
    currency TEXT NOT NULL DEFAULT 'RUB',
    created TEXT NOT NULL,
    updated TEXT
);
CREATE INDEX orders_customer ON orders (customer_id, created);
CREATE TABLE order_lines (
    line_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    article TEXT NOT NULL,
    name TEXT NOT NULL,
    qty INTEGER NOT NULL,
    price_kop INTEGER NOT NULL
);
CREATE INDEX order_lines_order ON order_lines (order_id);

INSERT INTO customers VALUES
 (1001, 'anna@example.ru', '+79161234567',
  '$2b$10$aSaltForAnnaLegacyDb0.EO4PqLAkRigBdYuQ4E6uFhhNgEy3hCy', 'Анна Смирнова', 1,
  '2019-03-02 10:15:00'),
 (1002, 'boris@example.ru', '+79035550102',
  '$6$rounds=5000$borisSaltXyZ$uVqpIFMgdvm//ysqFg6QeD6r2wQRNFVueNwS0IflJpv6X1BY2ai8ClKbtpYbs2h0dz/Qdi6P4YQPz1lOXVfXO/',
  'Борис Петров', 1, '2017-11-20 08:00:00'),
 (1003, 'victor@example.ru', NULL,
  '$2b$10$VictorLegacySaltValue.xOrkDzeQOSQeWO/GAfKV8n6wlOBfA82', NULL, 0,
  '2020-06-01 12:00:00'),
 (1004, 'olga@example.ru', NULL, '!disabled-md5-era', 'Ольга', 1, '2016-01-01 00:00:00');

INSERT INTO orders VALUES
 (50001, 1001, 'A-2021-0001', 'closed', 459000, 'RUB', '2021-02-10 09:00:00', '2021-02-20 18:00:00'),
 (50002, 1001, 'A-2022-0107', 'sent', 129900, 'RUB', '2022-05-03 14:30:00', '2022-05-04 10:00:00'),
 (50003, 1001, 'A-2023-0311', 'canceled', 89000, 'RUB', '2023-01-15 11:11:00', '2023-01-15 12:00:00'),
 (50004, 1001, 'A-2024-0042', 'wait_payment', 249000, 'RUB', '2024-03-01 07:45:00', NULL),
 (50005, 1002, 'B-2018-0777', 'refund', 1999000, 'RUB', '2018-12-24 20:00:00', '2019-01-10 09:00:00'),
 (50006, 1002, 'B-2020-0101', 'in_work', 35000, 'RUB', '2020-04-01 10:00:00', '2020-04-02 10:00:00'),
 (50007, 1002, 'B-2020-0202', 'archived_v1', 10000, 'RUB', '2020-05-01 10:00:00', NULL);

INSERT INTO order_lines VALUES
 (1, 50001, 'HRM-PRO', 'Нагрудный пульсометр Pro', 1, 399000),
 (2, 50001, 'STRAP-M', 'Сменный ремешок M', 2, 30000),
 (3, 50002, 'BOTTLE-750', 'Бутылка 750 мл', 1, 129900),
 (4, 50003, 'BAND-SET', 'Набор резинок', 1, 89000),
 (5, 50004, 'SCALE-S1', 'Умные весы S1', 1, 249000),
 (6, 50005, 'TREAD-X1', 'Беговая дорожка X1 (предоплата)', 1, 1999000),
 (7, 50006, 'GEL-20', 'Энергетический гель', 7, 5000),
 (8, 50007, 'SOCKS', 'Носки беговые', 1, 10000);
COMMIT;
