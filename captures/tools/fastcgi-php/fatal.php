<?php
// An uncaught Error: PHP writes "PHP Fatal error:  Uncaught Error: ..." to FCGI_STDERR and answers 500.
undefined_function_es();
