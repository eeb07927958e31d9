SELECT a$b$c FROM t$x; SELECT $1, $2::int; SELECT $é$ body ; $é$;
SELECT $$;
