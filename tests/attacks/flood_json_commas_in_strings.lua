-- attack: JSON whose strings hold half a million commas (the value count must not count them)
-- expect: value "shown"
display.json({csv = string.rep("a,", 500000)})
return "shown"
