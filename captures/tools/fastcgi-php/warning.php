<?php
// A warning on FCGI_STDERR, then a good 200.
header("Content-Type: text/plain");
$a = [];
$v = $a["missing_key_es"];
echo "ok despite the warning\n";
