using Xunit.Abstractions;
using Xunit.Sdk;

namespace Sd3Mesh.Cli.Tests;

/// <summary>The place of a test in its class, for classes whose tests share one cluster and one ends it.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class OrderAttribute(int order) : Attribute
{
    public int Order { get; } = order;
}

/// <summary>Runs a class's tests by <see cref="OrderAttribute"/> (unmarked ones first).</summary>
public sealed class ByOrder : ITestCaseOrderer
{
    public const string Name = "Sd3Mesh.Cli.Tests.ByOrder", Assembly = "Sd3Mesh.Cli.Tests";

    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.GetCustomAttributes(typeof(OrderAttribute).AssemblyQualifiedName)
            .Select(a => a.GetConstructorArguments().Cast<int>().Single()).DefaultIfEmpty(0).Single());
}
