"""What every training run shares, text or image: the loop (:mod:`.loop`) and the run
directory rules (:mod:`.run_dir`)."""
