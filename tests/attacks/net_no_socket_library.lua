-- attack: look for any socket library to reach the listener on 127.0.0.1:@PORT@
-- expect: value nil, nil, nil
return rawget(_G, "socket"), rawget(_G, "net"), rawget(_G, "http")
