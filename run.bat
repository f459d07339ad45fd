@echo off
rem Kick Clip Generator: set up on first run, then open the browser UI (Windows).
setlocal
cd /d "%~dp0"

set "PY="
where py >nul 2>nul && (py -3 -c "import sys; sys.exit(sys.version_info < (3, 10))" >nul 2>nul && set "PY=py -3")
if not defined PY (
  where python >nul 2>nul && (python -c "import sys; sys.exit(sys.version_info < (3, 10))" >nul 2>nul && set "PY=python")
)
if not defined PY (
  echo Python 3.10 or newer is needed.
  echo Install it from https://www.python.org/downloads/ ^(tick "Add python.exe to PATH"^) and run this again.
  pause
  exit /b 1
)

if not exist ".venv\Scripts\python.exe" (
  echo First run: creating .venv and installing requirements ^(a few minutes^) ...
  %PY% -m venv .venv || goto :failed
  ".venv\Scripts\python.exe" -m pip install --upgrade pip >nul
  ".venv\Scripts\python.exe" -m pip install -r requirements.txt || goto :failed
)

echo Starting the UI on http://127.0.0.1:7860 - close this window to stop.
".venv\Scripts\python.exe" main.py --ui %*
exit /b %errorlevel%

:failed
echo Setup failed - see the messages above. Delete the .venv folder and try again.
pause
exit /b 1
