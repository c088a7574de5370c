// ELF patch that lets TorchSharp 0.107.0 load on Debian 12.
//
// libLibTorchSharp.so lists GLIBCXX_3.4.32 (GCC 13) among the versions it needs from libstdc++,
// for one symbol, std::ios_base_library_init, that it never calls (GCC 13 emits the reference in
// every translation unit that includes <iostream>). Debian 12's libstdc++ stops at GLIBCXX_3.4.30,
// so ld.so refuses the library and TorchSharp reports a misleading "libtorch-cpu-linux-x64 not
// found" error. Marking that one version need weak (VER_FLG_WEAK in vna_flags of its Vernaux entry
// in .gnu.version_r) makes ld.so accept a libstdc++ without that version; the symbol itself is only
// bound lazily through the PLT, and nothing calls it.
//
// The task patches copies under the build output only (never the NuGet cache): it writes a temp
// file and renames it over the original, so a hard link into the cache would be broken, not written
// through. Idempotent; a file without that version need is left alone.
//
// Compiled by MSBuild's RoslynCodeTaskFactory from bench/TorchSharpNative/TorchSharpNative.targets.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class MarkVersionNeedWeak : Microsoft.Build.Utilities.Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    /// <summary>Shared libraries to patch (copies in the output folder).</summary>
    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Version name whose need is made weak, e.g. GLIBCXX_3.4.32.</summary>
    [Required]
    public string VersionName { get; set; } = "";

    public override bool Execute()
    {
        foreach (ITaskItem item in Files)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                string result = Patch(path, VersionName);
                Log.LogMessage(MessageImportance.High, $"MarkVersionNeedWeak: {path}: {result}");
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Log.LogError($"MarkVersionNeedWeak: {path}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    /// <summary>Marks every Vernaux entry named <paramref name="versionName"/> weak; returns what was done.</summary>
    public static string Patch(string path, string versionName)
    {
        // netstandard2.0 (what RoslynCodeTaskFactory compiles against): no spans, BitConverter on
        // a little-endian host (ELF here is little-endian; checked below).
        if (!BitConverter.IsLittleEndian)
            throw new InvalidDataException("the patcher assumes a little-endian host");
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF is supported");

        long shoff = (long)U64(elf, 0x28);
        int shentsize = U16(elf, 0x3A);
        int shnum = U16(elf, 0x3C);
        if (shoff <= 0 || shentsize < 64 || shoff + (long)shnum * shentsize > elf.Length)
            throw new InvalidDataException("no usable section header table");

        int patched = 0, alreadyWeak = 0;
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (U32(elf, sh + 4) != ShtGnuVerneed)
                continue;
            long off = (long)U64(elf, sh + 24);
            uint link = U32(elf, sh + 40);   // string table section
            uint count = U32(elf, sh + 44);  // number of Verneed entries
            long strOff = (long)U64(elf, shoff + (long)link * shentsize + 24);

            // Verneed { u16 vn_version, u16 vn_cnt, u32 vn_file, u32 vn_aux, u32 vn_next }
            // Vernaux { u32 vna_hash, u16 vna_flags, u16 vna_other, u32 vna_name, u32 vna_next }
            long vn = off;
            for (uint i = 0; i < count; i++)
            {
                int cnt = U16(elf, vn + 2);
                long vna = vn + U32(elf, vn + 8);
                for (int j = 0; j < cnt; j++)
                {
                    uint nameOff = U32(elf, vna + 8);
                    if (CString(elf, strOff + nameOff) == versionName)
                    {
                        ushort flags = U16(elf, vna + 4);
                        if ((flags & VerFlgWeak) != 0)
                            alreadyWeak++;
                        else
                        {
                            byte[] newFlags = BitConverter.GetBytes((ushort)(flags | VerFlgWeak));
                            elf[vna + 4] = newFlags[0];
                            elf[vna + 5] = newFlags[1];
                            patched++;
                        }
                    }
                    uint next = U32(elf, vna + 12);
                    if (next == 0) break;
                    vna += next;
                }
                uint vnNext = U32(elf, vn + 12);
                if (vnNext == 0) break;
                vn += vnNext;
            }
        }

        if (patched == 0)
            return alreadyWeak > 0 ? $"{versionName} need already weak" : $"no {versionName} need, left unchanged";

        string tmp = path + ".patch-tmp";
        File.WriteAllBytes(tmp, elf);
        File.Delete(path);
        File.Move(tmp, path);
        return $"marked {patched} {versionName} need(s) weak";
    }

    private static ushort U16(byte[] b, long at) => BitConverter.ToUInt16(b, checked((int)at));
    private static uint U32(byte[] b, long at) => BitConverter.ToUInt32(b, checked((int)at));
    private static ulong U64(byte[] b, long at) => BitConverter.ToUInt64(b, checked((int)at));

    private static string CString(byte[] b, long offset)
    {
        int start = checked((int)offset);
        int end = Array.IndexOf(b, (byte)0, start);
        if (end < 0) throw new InvalidDataException("unterminated string in .dynstr");
        return Encoding.ASCII.GetString(b, start, end - start);
    }
}
