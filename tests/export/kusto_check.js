// Parse and type-check KQL files with Microsoft's Kusto language service
// (@kusto/language-service-next, installed under tests/export/kusto/node_modules).
// Usage: node kusto_check.js FILE... ; prints one JSON object per file:
//   {"file": ..., "diagnostics": [{"severity", "message", "start", "length"}]}
// Tables are declared with the columns of the Defender XDR advanced-hunting schema that the
// exports use (types as documented by Microsoft); an unknown column or table is an error.
"use strict";
const fs = require("fs");
const path = require("path");
const base = path.join(__dirname, "kusto", "node_modules", "@kusto", "language-service-next");
require(path.join(base, "bridge.min.js"));
require(path.join(base, "Kusto.Language.Bridge.min.js"));

const common = "Timestamp:datetime, DeviceId:string, DeviceName:string, ActionType:string, " +
  "InitiatingProcessFileName:string, InitiatingProcessFolderPath:string, " +
  "InitiatingProcessCommandLine:string, InitiatingProcessId:long, " +
  "InitiatingProcessAccountName:string, InitiatingProcessParentFileName:string, " +
  "InitiatingProcessParentId:long, ReportId:long";
const schemas = {
  DeviceNetworkEvents: common + ", RemoteIP:string, RemotePort:int, RemoteUrl:string, " +
    "LocalIP:string, LocalPort:int, Protocol:string, RemoteIPType:string, AdditionalFields:dynamic",
  DeviceEvents: common + ", AdditionalFields:dynamic, FileName:string, FolderPath:string, " +
    "ProcessId:long, ProcessCommandLine:string, RemoteUrl:string, RemoteIP:string, RemotePort:int",
  DeviceProcessEvents: common + ", FileName:string, FolderPath:string, ProcessId:long, " +
    "ProcessCommandLine:string, ProcessCreationTime:datetime, AccountName:string, SHA256:string",
  DeviceFileEvents: common + ", FileName:string, FolderPath:string, SHA256:string, " +
    "PreviousFileName:string, FileOriginUrl:string",
  // Microsoft Sentinel tables of the cloud rules (columns as in the Azure Monitor Logs
  // table reference: AWSCloudTrail, GCPAuditLogs, AzureActivity).
  AWSCloudTrail: "TimeGenerated:datetime, EventSource:string, EventName:string, " +
    "EventTypeName:string, ErrorCode:string, ErrorMessage:string, UserIdentityArn:string, " +
    "UserIdentityType:string, UserIdentityAccountId:string, SessionIssuerArn:string, " +
    "SourceIpAddress:string, UserAgent:string, RequestParameters:string, " +
    "ResponseElements:string, RecipientAccountId:string, AWSRegion:string",
  GCPAuditLogs: "TimeGenerated:datetime, ServiceName:string, MethodName:string, " +
    "PrincipalEmail:string, ProjectId:string, GCPResourceName:string, GCPResourceType:string, " +
    "AuthenticationInfo:dynamic, AuthorizationInfo:dynamic, RequestMetadata:dynamic, " +
    "Request:dynamic, Response:dynamic, ServiceData:dynamic, Status:dynamic, Severity:string, " +
    "LogName:string",
  AzureActivity: "TimeGenerated:datetime, OperationNameValue:string, " +
    "ActivityStatusValue:string, ActivitySubstatusValue:string, Caller:string, " +
    "CallerIpAddress:string, SubscriptionId:string, _ResourceId:string, CategoryValue:string, " +
    "Properties:string, Properties_d:dynamic, ResourceProviderValue:string",
};
const S = Kusto.Language.Symbols;
const tables = Object.entries(schemas).map(([name, cols]) => S.TableSymbol.From("(" + cols + ")").WithName(name));
const db = new S.DatabaseSymbol.ctor("hunting", tables);
const globals = Kusto.Language.GlobalState.Default.WithDatabase(db);

for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  const code = Kusto.Language.KustoCode.ParseAndAnalyze(text, globals);
  const diags = code.GetDiagnostics();
  const out = [];
  for (let i = 0; i < diags.Count; i++) {
    const d = diags.getItem(i);
    out.push({ severity: String(d.Severity), message: String(d.Message), start: d.Start, length: d.Length });
  }
  console.log(JSON.stringify({ file, diagnostics: out }));
}
