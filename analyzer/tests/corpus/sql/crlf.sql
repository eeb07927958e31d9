CREATE TABLE crlf (
  id int PRIMARY KEY,
  v text
);
ALTER TABLE crlf RENAME TO crlf2;
