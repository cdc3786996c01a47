-- attack: a PNG of half a million empty chunks (a CRC and a Python step each in the kernel's check)
-- expect: value "sent"
local ihdr = "\0\0\0\13IHDR\0\0\0\1\0\0\0\1\8\6\0\0\0\31\21\196\137"
local empty_text = "\0\0\0\0tEXt\150\66\197\133"
display.png("\137PNG\r\n\26\n" .. ihdr .. string.rep(empty_text, 500000))
return "sent"
