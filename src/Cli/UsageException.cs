namespace GpuGan.Cli;

/// <summary>A command line the CLI itself refuses (before the library is called); the message is the whole line.</summary>
internal sealed class UsageException(string message) : Exception(message);
