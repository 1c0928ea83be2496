# framework/ring rules
