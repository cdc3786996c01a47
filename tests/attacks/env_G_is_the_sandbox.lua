-- attack: use _G to reach the real globals
-- expect: value true, nil, nil
return _G == _ENV, _G.io, _G.debug
