-- attack: find lupa's python module or builtins under other names
-- expect: value nil, nil, nil, nil
return rawget(_G, "python"), _ENV.python, rawget(_G, "builtins"), load("return python")()
