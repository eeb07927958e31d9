CREATE TABLE "never closed (id int);
