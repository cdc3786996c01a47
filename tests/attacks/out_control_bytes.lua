-- attack: terminal escapes, NUL and invalid UTF-8 in output
-- expect: ok
-- stdout: /clear/
print("\27[2J\0\255\254 clear")
return "\0\27\255"
