from svtune.bench.bench import main

main()
