// Atomic file writes: the bytes go to a temporary file in the target's folder (the same file
// system, so the rename is atomic), are flushed to disk, then renamed over the target. A reader
// sees the old file or the complete new one, never a torn one; a failed write leaves the old file.
//
// A process killed mid-write (SIGKILL, power loss) leaves its temporary file behind. Temporary
// files are therefore named so that they are recognisable as ours and nobody else's:
//
//     .<target file name>.<writer's process id>.<32 hex digits>.gpugan-tmp
//
// RemoveStaleTemporaryFiles deletes files of exactly that shape, and only those whose writer
// process is no longer running (a live writer's file is a write in progress). A reused process id
// keeps a stale file until the id is free again: conservative, never wrong.
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace GpuGan.Layers.Serialization;

/// <summary>
/// Writes files so that readers see either the old content or the complete new one (temporary
/// file, flush to disk, rename), and removes the temporary files that killed writers left behind.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>The suffix of every temporary file this library writes.</summary>
    public const string TemporarySuffix = ".gpugan-tmp";

    [GeneratedRegex(@"^\.(?<target>.+)\.(?<pid>[0-9]{1,10})\.[0-9a-f]{32}\.gpugan-tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex TemporaryName();

    /// <summary>The temporary file a write of <paramref name="fullPath"/> by this process goes through.</summary>
    internal static string TemporaryPath(string fullPath) => Path.Combine(Path.GetDirectoryName(fullPath) ?? ".",
        $".{Path.GetFileName(fullPath)}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}.{Guid.NewGuid():N}{TemporarySuffix}");

    /// <summary>
    /// True when <paramref name="fileName"/> (a name, not a path) is a temporary file of this library; gives the
    /// process id of its writer.
    /// </summary>
    public static bool IsTemporaryFile(string fileName, out int writerProcessId)
    {
        writerProcessId = 0;
        var match = TemporaryName().Match(fileName);
        return match.Success && int.TryParse(match.Groups["pid"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out writerProcessId);
    }

    /// <summary>
    /// Creates <paramref name="path"/> (and its folder) with what <paramref name="write"/> writes, atomically.
    /// </summary>
    /// <exception cref="IOException">The folder cannot be written (the previous file, if any, is unchanged and no temporary file is left).</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full) ?? ".");
        string temp = TemporaryPath(full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            // Best effort: the original exception is the one the caller needs to see.
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Creates <paramref name="path"/> holding <paramref name="bytes"/>, atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>
    /// Deletes the temporary files in <paramref name="folder"/> (not its subfolders) that writers of this library
    /// left behind when they were killed: files named as <see cref="IsTemporaryFile"/> recognises whose writer
    /// process is no longer running. Other files are never touched. Returns the files deleted; a missing folder
    /// has none.
    /// </summary>
    public static IReadOnlyList<string> RemoveStaleTemporaryFiles(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var removed = new List<string>();
        if (!Directory.Exists(folder)) return removed;
        // Temporary names start with a dot, which some platforms mark hidden: enumerate everything.
        var options = new EnumerationOptions { AttributesToSkip = 0, RecurseSubdirectories = false, MatchType = MatchType.Simple };
        foreach (string file in Directory.EnumerateFiles(folder, "*" + TemporarySuffix, options))
        {
            if (!IsTemporaryFile(Path.GetFileName(file), out int pid) || IsRunning(pid)) continue;
            try
            {
                File.Delete(file);
                removed.Add(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left for the next start; a leftover temporary file harms nothing but space.
            }
        }
        return removed;
    }

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;   // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
