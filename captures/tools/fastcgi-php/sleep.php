<?php
// Sleeps ?s= seconds (default 10) before answering.
$s = isset($_GET["s"]) ? (float)$_GET["s"] : 10.0;
usleep((int)($s * 1000000));
header("Content-Type: text/plain");
echo "slept $s s\n";
