// Option builders that parse into typed values and word their own errors: "--steps: '1e9' is not an
// integer" rather than a .NET type name.
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace GpuGan.Cli.Commands;

internal static class Flags
{
    public static Option<int> Int(string name, string description, int defaultValue) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r => ParseInt(r) ?? defaultValue,
    };

    public static Option<int?> OptionalInt(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = ParseInt,
    };

    public static Option<long> Long(string name, string description, long defaultValue) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r =>
        {
            string token = Token(r);
            if (long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)) return v;
            r.AddError($"{Name(r)}: '{token}' is not an integer");
            return defaultValue;
        },
    };

    public static Option<float?> OptionalFloat(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r =>
        {
            string token = Token(r);
            if (float.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out float v)) return v;
            r.AddError($"{Name(r)}: '{token}' is not a number");
            return null;
        },
    };

    public static Option<double?> OptionalDouble(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r =>
        {
            string token = Token(r);
            if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return v;
            r.AddError($"{Name(r)}: '{token}' is not a number");
            return null;
        },
    };

    /// <summary>An option whose words map to typed values (a table in <see cref="Words"/>); help shows the words.</summary>
    public static ChoiceOption<T> Choice<T>(string name, string description, IReadOnlyList<(string Word, T Value)> table, string defaultWord)
    {
        var option = new Option<string>(name)
        {
            Description = description,
            HelpName = string.Join("|", table.Select(t => t.Word)),
            DefaultValueFactory = _ => defaultWord,
        };
        option.Validators.Add(r =>
        {
            string token = Token(r);
            if (r.Tokens.Count > 0 && !table.Any(t => t.Word == token))
                r.AddError($"{name}: unknown value '{token}' (expected {Words.OneOf(table.Select(t => t.Word))})");
        });
        return new ChoiceOption<T>(option, table);
    }

    private static int? ParseInt(ArgumentResult r)
    {
        string token = Token(r);
        if (int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) return v;
        r.AddError($"{Name(r)}: '{token}' is not an integer" + (long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out _) ? " (at most 2147483647)" : ""));
        return null;
    }

    private static string Token(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";

    private static string Token(OptionResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";

    private static string Name(ArgumentResult r) => (r.Parent as OptionResult)?.Option.Name ?? "option";

    /// <summary>True when the user typed the option (not its default).</summary>
    public static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}

/// <summary>A word option and its table: <see cref="Value"/> gives the typed value of the parsed word.</summary>
internal sealed class ChoiceOption<T>(Option<string> option, IReadOnlyList<(string Word, T Value)> table)
{
    public Option<string> Option { get; } = option;

    public T Value(ParseResult parse)
    {
        string word = parse.GetValue(Option)!;
        return table.First(t => t.Word == word).Value;
    }
}
