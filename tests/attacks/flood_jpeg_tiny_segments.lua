-- attack: a JPEG of two million 4-byte comment segments before its frame (a Python step each)
-- expect: value "sent"
display.jpeg("\xff\xd8" .. string.rep("\xff\xfe\x00\x02", 2000000) .. "\xff\xd9")
return "sent"
