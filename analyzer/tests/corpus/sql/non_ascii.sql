SELECT 'é;ü' FROM "Ünïcode"; SELECT E'\';' ; -- é
SELECT 1 /* ü */;
