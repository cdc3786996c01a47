-- attack: a result string of 5 MB (it is cut, not sent whole)
-- expect: ok
return ("x"):rep(5e6)
