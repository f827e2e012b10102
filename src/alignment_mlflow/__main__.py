from alignment_mlflow.cli import main

main()
