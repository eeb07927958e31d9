-- unterminated dollar quote
CREATE TABLE a (id int PRIMARY KEY);
CREATE FUNCTION f() RETURNS void AS $body$
BEGIN; $$ not the end $$;
