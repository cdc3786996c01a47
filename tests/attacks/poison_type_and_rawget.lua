-- attack: redefine type, rawget, rawlen, getmetatable and setmetatable for the host
-- expect: value {a = true}
-- next: setmetatable({}, {__tostring = function() return "fine" end}) => fine
type = function() return "table" end
rawget, rawlen = nil, nil
getmetatable = function() return {__tostring = print} end
return {a = true}
