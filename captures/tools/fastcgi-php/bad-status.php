<?php
// A Status: header whose value is no status code.
header("Status: abc");
header("Content-Type: text/plain");
echo "bad status\n";
