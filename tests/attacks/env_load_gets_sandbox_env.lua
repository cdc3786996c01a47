-- attack: a chunk from load without an env argument must not see the real globals
-- expect: value nil, nil, nil
return load("return io")(), load("return debug")(), load("return python")()
