System.Console.WriteLine("gpugan");
