-- Order names as customers type them. `name_key` is the name in capitals with letters
-- and digits only ("#TS-1001" -> "TS1001"), the same key kefu computes from what a
-- customer writes (`kefu_bot::slots::order_key`). Names with other characters are
-- keyed by kefu itself when it opens the database.
ALTER TABLE orders ADD COLUMN name_key TEXT;
UPDATE orders SET name_key = upper(replace(replace(replace(replace(replace(replace(name, '#', ''), '-', ''), ' ', ''), '_', ''), '.', ''), '/', ''))
 WHERE name NOT GLOB '*[^#A-Za-z0-9 ._/-]*';
CREATE INDEX orders_by_name_key ON orders (name_key);

-- The shapes of the shop's order names (every digit written as 9: "#TS9999",
-- "VX-9999-US"), with how many orders have each and one of their names: the formats
-- kefu recognises in messages. Kept up to date by the order import.
CREATE TABLE order_name_shapes (
    shape    TEXT PRIMARY KEY,
    example  TEXT NOT NULL,
    orders   INTEGER NOT NULL
);
INSERT INTO order_name_shapes (shape, example, orders)
SELECT shape, min(name), count(*) FROM (SELECT replace(replace(replace(replace(replace(replace(replace(replace(replace(name, '0', '9'), '1', '9'), '2', '9'), '3', '9'), '4', '9'), '5', '9'), '6', '9'), '7', '9'), '8', '9') AS shape, name FROM orders) AS named
 GROUP BY shape ORDER BY count(*) DESC, shape LIMIT 200;
