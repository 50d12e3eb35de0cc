<?php
// A space in a header name: "Content Type" (not Content-Type).
header("Content Type: text/plain");
echo "bad header\n";
