-- attack: reach package.searchers / package.loaded through the environment table
-- expect: value nil, nil, nil
return rawget(_G, 'package'), rawget(_ENV, 'package'), _G.package
