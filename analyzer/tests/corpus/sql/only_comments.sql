

   
-- only a comment ; with a semicolon
;;;
