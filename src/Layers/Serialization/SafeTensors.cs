// safetensors — the weight and checkpoint format read by PyTorch, TorchSharp and the
// Hugging Face tools. Spec and reference implementation: https://github.com/huggingface/safetensors
// (format description in its README; rules below follow safetensors/src/tensor.rs).
//
//   [0, 8)        u64 little-endian N: byte length of the header
//   [8, 8+N)      UTF-8 JSON object, starting with '{', right-padded with spaces (0x20):
//                   { "__metadata__": { "key": "value", ... },          optional, string → string
//                     "name": { "dtype": "F32", "shape": [2, 3],
//                               "data_offsets": [begin, end] }, ... }
//   [8+N, EOF)    data section: raw little-endian, row-major elements, packed
//
// Rules the reader enforces (each violation is a SafeTensorsFormatException naming file and problem):
//   - N ≤ 100,000,000 (the reference's MAX_HEADER_SIZE) and 8 + N ≤ file length;
//   - header is valid UTF-8, starts with '{', is one JSON object, nothing but whitespace after it;
//   - every entry has dtype (a known name), shape (non-negative integers), data_offsets
//     ([begin, end], begin ≤ end ≤ data length) and end − begin = product(shape) · sizeof(dtype),
//     computed without overflow; unknown fields in an entry are ignored, as the reference does;
//   - sorted by offsets, the entries tile the data section exactly: no overlap, no gap, no
//     trailing bytes (the reference's InvalidOffset / MetadataIncompleteBuffer);
//   - keys are unique (stricter than the reference, which keeps the last duplicate).
//
// The writer produces what the reference's serialize() produces: tensors sorted by dtype
// alignment (descending, SafeTensorDtype order) then by name (UTF-8 byte order), data in that
// order, compact JSON with "__metadata__" first, header padded with spaces to a multiple of 8 so
// every tensor's data starts 8-byte aligned. The reference iterates metadata in hash order; we
// sort metadata keys so output is deterministic. Files are written atomically: temp file in the
// same directory, flushed to disk, then renamed over the target.

using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace GpuGan.Layers.Serialization;

/// <summary>Reads and writes the safetensors format (https://github.com/huggingface/safetensors).</summary>
public static class SafeTensors
{
    /// <summary>Largest header the reader accepts, in bytes (the reference implementation's limit).</summary>
    public const int MaxHeaderSize = 100_000_000;

    internal const string MetadataKey = "__metadata__";

    // The header's structure needs depth 3; the slack lets unknown fields hold small objects
    // while bounding the work a hostile header can demand.
    private const int MaxJsonDepth = 16;

    // ---------------------------------------------------------------------------------------
    // Reading
    // ---------------------------------------------------------------------------------------

    /// <summary>Reads and validates a safetensors file.</summary>
    /// <exception cref="SafeTensorsFormatException">The file is not a valid safetensors file (or is too large to load into one array).</exception>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    public static SafeTensorFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
        {
            long length = stream.Length;
            if (length > Array.MaxLength)
                throw Fail(path, $"file is {length} bytes; this reader loads whole files and supports at most {Array.MaxLength}");
            bytes = new byte[length];
            stream.ReadExactly(bytes);
        }
        return Read(bytes, path);
    }

    /// <summary>
    /// Parses and validates safetensors bytes. The returned entries' data are slices of
    /// <paramref name="bytes"/> (no copy); do not mutate the array while they are in use.
    /// </summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="sourceName">Name used in error messages (a path, a URL, …).</param>
    /// <exception cref="SafeTensorsFormatException">The bytes are not a valid safetensors file.</exception>
    public static SafeTensorFile Read(byte[] bytes, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(sourceName);
        string src = sourceName;

        if (bytes.Length < 8)
            throw Fail(src, $"file is {bytes.Length} bytes, shorter than the 8-byte header-size prefix");
        ulong headerSize = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerSize > MaxHeaderSize)
            throw Fail(src, $"header size {headerSize} exceeds the limit of {MaxHeaderSize} bytes");
        if (headerSize > (ulong)(bytes.Length - 8))
            throw Fail(src, $"header size {headerSize} is larger than the {bytes.Length - 8} bytes after the size prefix (truncated file?)");

        ReadOnlySpan<byte> header = bytes.AsSpan(8, (int)headerSize);
        if (!Utf8.IsValid(header))
            throw Fail(src, "header is not valid UTF-8");
        if (header.IsEmpty || header[0] != (byte)'{')
            throw Fail(src, "header does not start with '{'");

        (List<HeaderEntry> entries, Dictionary<string, string> metadata) = ParseHeader(header, src);

        int dataStart = 8 + (int)headerSize;
        ulong dataLength = (ulong)(bytes.Length - dataStart);
        foreach (HeaderEntry e in entries)
        {
            ulong byteCount = ByteCount(e, src);
            if (e.Begin > e.End)
                throw Fail(src, $"tensor '{e.Name}': data_offsets [{e.Begin},{e.End}] has begin > end");
            if (e.End > dataLength)
                throw Fail(src, $"tensor '{e.Name}': data_offsets [{e.Begin},{e.End}] run past the {dataLength}-byte data section (truncated file?)");
            if (e.End - e.Begin != byteCount)
                throw Fail(src, $"tensor '{e.Name}': data_offsets [{e.Begin},{e.End}] span {e.End - e.Begin} bytes, but shape [{string.Join(",", e.Shape)}] of {e.Dtype.WireName()} needs {byteCount}");
        }

        entries.Sort(static (a, b) =>
        {
            int c = a.Begin.CompareTo(b.Begin);
            if (c == 0) c = a.End.CompareTo(b.End);
            return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
        });
        ulong covered = 0;
        string? previous = null;
        foreach (HeaderEntry e in entries)
        {
            if (e.Begin < covered)
                throw Fail(src, $"tensors '{previous}' and '{e.Name}' overlap (data_offsets begin {e.Begin} < previous end {covered})");
            if (e.Begin > covered)
                throw Fail(src, $"{e.Begin - covered}-byte gap before tensor '{e.Name}' at offset {covered}; the data section must be covered without holes");
            covered = e.End;
            previous = e.Name;
        }
        if (covered != dataLength)
            throw Fail(src, $"{dataLength - covered} trailing bytes after the last tensor's data");

        var tensors = new Dictionary<string, SafeTensorEntry>(entries.Count, StringComparer.Ordinal);
        foreach (HeaderEntry e in entries)
        {
            var data = new ReadOnlyMemory<byte>(bytes, dataStart + (int)e.Begin, (int)(e.End - e.Begin));
            tensors.Add(e.Name, new SafeTensorEntry(e.Name, e.Dtype, e.Shape, data));
        }
        return new SafeTensorFile(tensors, metadata);
    }

    private sealed record HeaderEntry(string Name, SafeTensorDtype Dtype, int[] Shape, ulong Begin, ulong End);

    private static ulong ByteCount(HeaderEntry e, string src)
    {
        try
        {
            ulong count = 1;
            foreach (int dim in e.Shape) count = checked(count * (ulong)dim);
            return checked(count * (ulong)e.Dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw Fail(src, $"tensor '{e.Name}': byte size of shape [{string.Join(",", e.Shape)}] overflows 64 bits");
        }
    }

    private static (List<HeaderEntry>, Dictionary<string, string>) ParseHeader(ReadOnlySpan<byte> header, string src)
    {
        var options = new JsonReaderOptions
        {
            MaxDepth = MaxJsonDepth,
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
        };
        var reader = new Utf8JsonReader(header, options);
        var entries = new List<HeaderEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            Next(ref reader, src);
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Fail(src, "header is not a JSON object");
            var keys = new HashSet<string>(StringComparer.Ordinal);
            while (true)
            {
                Next(ref reader, src);
                if (reader.TokenType == JsonTokenType.EndObject) break;
                string key = reader.GetString()!;
                if (!keys.Add(key))
                    throw Fail(src, $"duplicate key '{key}' in header");
                Next(ref reader, src);
                if (key == MetadataKey) ParseMetadata(ref reader, metadata, src);
                else entries.Add(ParseEntry(ref reader, key, src));
            }
            if (reader.Read())
                throw Fail(src, "unexpected JSON after the header object");
        }
        catch (JsonException ex)
        {
            throw Fail(src, $"header is not valid JSON: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            // Utf8JsonReader.GetString on an escaped unpaired surrogate.
            throw Fail(src, $"header has an invalid JSON string: {ex.Message}", ex);
        }
        return (entries, metadata);
    }

    private static void ParseMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata, string src)
    {
        if (reader.TokenType == JsonTokenType.Null) return;
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Fail(src, $"'{MetadataKey}' is not a JSON object");
        while (true)
        {
            Next(ref reader, src);
            if (reader.TokenType == JsonTokenType.EndObject) return;
            string key = reader.GetString()!;
            Next(ref reader, src);
            if (reader.TokenType != JsonTokenType.String)
                throw Fail(src, $"'{MetadataKey}' value of '{key}' is not a string");
            if (!metadata.TryAdd(key, reader.GetString()!))
                throw Fail(src, $"duplicate key '{key}' in '{MetadataKey}'");
        }
    }

    private static HeaderEntry ParseEntry(ref Utf8JsonReader reader, string name, string src)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Fail(src, $"tensor '{name}': entry is not a JSON object");
        SafeTensorDtype? dtype = null;
        int[]? shape = null;
        ulong[]? offsets = null;
        while (true)
        {
            Next(ref reader, src);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string field = reader.GetString()!;
            Next(ref reader, src);
            switch (field)
            {
                case "dtype":
                    if (dtype is not null) throw Fail(src, $"tensor '{name}': duplicate field 'dtype'");
                    if (reader.TokenType != JsonTokenType.String)
                        throw Fail(src, $"tensor '{name}': 'dtype' is not a string");
                    string wire = reader.GetString()!;
                    if (!SafeTensorDtypeExtensions.TryParseWireName(wire, out SafeTensorDtype parsed))
                        throw Fail(src, $"tensor '{name}': unknown or unsupported dtype '{Shorten(wire)}'");
                    dtype = parsed;
                    break;
                case "shape":
                    if (shape is not null) throw Fail(src, $"tensor '{name}': duplicate field 'shape'");
                    var dims = new List<int>();
                    foreach (ulong dim in ReadUIntArray(ref reader, name, "shape", src))
                    {
                        if (dim > int.MaxValue)
                            throw Fail(src, $"tensor '{name}': dimension {dim} exceeds {int.MaxValue}");
                        dims.Add((int)dim);
                    }
                    shape = dims.ToArray();
                    break;
                case "data_offsets":
                    if (offsets is not null) throw Fail(src, $"tensor '{name}': duplicate field 'data_offsets'");
                    offsets = ReadUIntArray(ref reader, name, "data_offsets", src).ToArray();
                    if (offsets.Length != 2)
                        throw Fail(src, $"tensor '{name}': 'data_offsets' has {offsets.Length} numbers, expected [begin, end]");
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        if (dtype is null) throw Fail(src, $"tensor '{name}': missing field 'dtype'");
        if (shape is null) throw Fail(src, $"tensor '{name}': missing field 'shape'");
        if (offsets is null) throw Fail(src, $"tensor '{name}': missing field 'data_offsets'");
        return new HeaderEntry(name, dtype.Value, shape, offsets[0], offsets[1]);
    }

    private static List<ulong> ReadUIntArray(ref Utf8JsonReader reader, string name, string field, string src)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw Fail(src, $"tensor '{name}': '{field}' is not an array");
        var values = new List<ulong>();
        while (true)
        {
            Next(ref reader, src);
            if (reader.TokenType == JsonTokenType.EndArray) return values;
            if (reader.TokenType != JsonTokenType.Number)
                throw Fail(src, $"tensor '{name}': '{field}' holds a {reader.TokenType} where a number belongs");
            if (reader.TryGetUInt64(out ulong value))
            {
                values.Add(value);
                continue;
            }
            string text = Shorten(Encoding.UTF8.GetString(reader.ValueSpan));
            if (reader.TryGetInt64(out long signed) && signed < 0)
                throw Fail(src, $"tensor '{name}': '{field}' holds negative value {text}");
            throw Fail(src, $"tensor '{name}': '{field}' holds {text}, not an integer in [0, 2^64)");
        }
    }

    private static void Next(ref Utf8JsonReader reader, string src)
    {
        if (!reader.Read()) throw Fail(src, "header JSON ends early");
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : string.Concat(s.AsSpan(0, 40), "…");

    private static SafeTensorsFormatException Fail(string src, string problem, Exception? inner = null) => new(src, problem, inner);

    // ---------------------------------------------------------------------------------------
    // Writing
    // ---------------------------------------------------------------------------------------

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically (<see cref="AtomicFile"/>): the bytes
    /// go to a uniquely named temporary file in the same folder, are flushed to disk, and the temporary file is
    /// renamed over <paramref name="path"/>. On any failure the temporary file is deleted and a previous
    /// file at <paramref name="path"/> is left untouched. Output is deterministic (see the file header).
    /// </summary>
    /// <param name="path">Destination file.</param>
    /// <param name="tensors">Entries; names must be unique. Enumerated once, before any file is created.</param>
    /// <param name="metadata">Optional <c>"__metadata__"</c> map; <see langword="null"/> omits it.</param>
    /// <exception cref="ArgumentException">Duplicate names, a null entry, metadata that cannot be encoded, or a header over <see cref="MaxHeaderSize"/>.</exception>
    public static void Write(string path, IEnumerable<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors, metadata, static stream => stream);

    /// <summary>The bytes <see cref="Write(string, IEnumerable{SafeTensorEntry}, IReadOnlyDictionary{string, string}?)"/> would write.</summary>
    /// <exception cref="ArgumentException">As for Write, or the result would exceed the largest array.</exception>
    public static byte[] Serialize(IEnumerable<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Layout layout = Layout.Create(tensors, metadata);
        if (layout.TotalLength > Array.MaxLength)
            throw new ArgumentException($"serialized size {layout.TotalLength} exceeds the largest array; use Write", nameof(tensors));
        var stream = new MemoryStream((int)layout.TotalLength);
        layout.WriteTo(stream);
        return stream.ToArray();
    }

    /// <summary>Write with a hook that wraps the file stream, so tests can inject failures mid-write.</summary>
    internal static void Write(string path, IEnumerable<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata,
        Func<Stream, Stream> wrapStream)
    {
        ArgumentNullException.ThrowIfNull(path);
        Layout layout = Layout.Create(tensors, metadata);
        AtomicFile.Write(path, file =>
        {
            Stream target = wrapStream(file);
            layout.WriteTo(target);
            target.Flush();
        });
    }

    /// <summary>Sorted entries and the encoded, padded header: everything but the data bytes.</summary>
    private sealed class Layout
    {
        private readonly List<SafeTensorEntry> _ordered;
        private readonly byte[] _header;

        private Layout(List<SafeTensorEntry> ordered, byte[] header, long dataLength)
        {
            _ordered = ordered;
            _header = header;
            TotalLength = 8L + header.Length + dataLength;
        }

        public long TotalLength { get; }

        public static Layout Create(IEnumerable<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata)
        {
            ArgumentNullException.ThrowIfNull(tensors);
            var keyed = new List<(SafeTensorEntry Entry, byte[] Utf8Name)>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (SafeTensorEntry? entry in tensors)
            {
                if (entry is null) throw new ArgumentException("tensor entries must not be null", nameof(tensors));
                if (!names.Add(entry.Name)) throw new ArgumentException($"duplicate tensor name '{entry.Name}'", nameof(tensors));
                keyed.Add((entry, Encoding.UTF8.GetBytes(entry.Name)));
            }
            // Reference order: dtype descending (alignment), then name as UTF-8 bytes (Rust String order).
            keyed.Sort(static (a, b) =>
            {
                int c = b.Entry.Dtype.CompareTo(a.Entry.Dtype);
                return c != 0 ? c : a.Utf8Name.AsSpan().SequenceCompareTo(b.Utf8Name);
            });

            var json = new StringBuilder("{");
            if (metadata is not null)
            {
                var pairs = new List<(byte[] Utf8Key, string Key, string Value)>();
                foreach ((string key, string value) in metadata)
                {
                    if (value is null) throw new ArgumentException($"metadata value of '{key}' is null", nameof(metadata));
                    if (!SafeTensorEntry.IsValidUtf16(key) || !SafeTensorEntry.IsValidUtf16(value))
                        throw new ArgumentException($"metadata entry '{key}' contains an unpaired surrogate", nameof(metadata));
                    pairs.Add((Encoding.UTF8.GetBytes(key), key, value));
                }
                pairs.Sort(static (a, b) => a.Utf8Key.AsSpan().SequenceCompareTo(b.Utf8Key));
                AppendString(json, MetadataKey).Append(":{");
                for (int i = 0; i < pairs.Count; i++)
                {
                    if (i > 0) json.Append(',');
                    AppendString(json, pairs[i].Key).Append(':');
                    AppendString(json, pairs[i].Value);
                }
                json.Append('}');
            }

            long offset = 0;
            foreach ((SafeTensorEntry entry, _) in keyed)
            {
                if (json.Length > 1) json.Append(',');
                long end = offset + entry.Data.Length;
                AppendString(json, entry.Name)
                    .Append(":{\"dtype\":\"").Append(entry.Dtype.WireName())
                    .Append("\",\"shape\":[").AppendJoin(',', entry.Shape)
                    .Append("],\"data_offsets\":[").Append(offset).Append(',').Append(end).Append("]}");
                offset = end;
            }
            json.Append('}');

            int length = Encoding.UTF8.GetByteCount(json.ToString());
            int padded = (length + 7) / 8 * 8;
            if (padded > MaxHeaderSize)
                throw new ArgumentException($"header would be {padded} bytes, over the {MaxHeaderSize}-byte limit readers enforce", nameof(tensors));
            byte[] header = new byte[padded];
            Encoding.UTF8.GetBytes(json.ToString(), header);
            header.AsSpan(length).Fill((byte)' ');
            return new Layout(keyed.ConvertAll(k => k.Entry), header, offset);
        }

        public void WriteTo(Stream stream)
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)_header.Length);
            stream.Write(prefix);
            stream.Write(_header);
            foreach (SafeTensorEntry entry in _ordered) stream.Write(entry.Data.Span);
        }

        // JSON string with serde_json's escaping (the reference writer's), so headers match byte for byte:
        // quote, backslash and C0 controls are escaped; everything else, including non-ASCII, is literal.
        private static StringBuilder AppendString(StringBuilder json, string s)
        {
            json.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': json.Append("\\\""); break;
                    case '\\': json.Append("\\\\"); break;
                    case '\b': json.Append("\\b"); break;
                    case '\f': json.Append("\\f"); break;
                    case '\n': json.Append("\\n"); break;
                    case '\r': json.Append("\\r"); break;
                    case '\t': json.Append("\\t"); break;
                    default:
                        if (c < 0x20) json.Append("\\u00").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                        else json.Append(c);
                        break;
                }
            }
            return json.Append('"');
        }
    }
}
