"""What an image run is built from: its config, its images and their degradations."""
