/* outer /* inner; */ still comment; */ CREATE TABLE c (id int);
/* never closed ; CREATE TABLE d (id int);
