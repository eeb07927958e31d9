CREATE TABLE a (id int);
INSERT INTO a VALUES ('never closed);
CREATE TABLE b (id int);
