-- attack: a JPEG that is 7 MB of 0xFF fill bytes (one Python step per byte in the kernel's check)
-- expect: value "sent"
display.jpeg("\xff\xd8" .. string.rep("\xff", 7 * 1024 * 1024) .. "\xc0\x00\x11\xff\xd9")
return "sent"
